DROP TABLE versions;
DROP TABLE crates;
