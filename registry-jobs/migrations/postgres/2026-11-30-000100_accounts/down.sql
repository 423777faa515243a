ALTER TABLE crates DROP COLUMN description;
DROP TABLE crate_owners;
DROP TABLE api_tokens;
DROP TABLE users;
