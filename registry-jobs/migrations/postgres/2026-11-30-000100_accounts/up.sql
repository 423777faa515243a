-- Who may publish: users, their API tokens (only a hash is kept) and crate owners.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- SHA-256 of the token, lowercase hex. The token itself is shown once and never kept.
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE crate_owners (
    crate_id BIGINT NOT NULL REFERENCES crates (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (crate_id, user_id)
);

CREATE INDEX crate_owners_user ON crate_owners (user_id);

-- The description of the latest publish, for search.
ALTER TABLE crates ADD COLUMN description TEXT;
