-- Crates and their versions: everything needed to write a crate's index file.
CREATE TABLE crates (
    id BIGSERIAL PRIMARY KEY,
    -- The name as first published.
    name TEXT NOT NULL,
    -- Lowercase with '-' as '_': `foo-bar` and `Foo_Bar` are one crate.
    canonical_name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE versions (
    id BIGSERIAL PRIMARY KEY,
    crate_id BIGINT NOT NULL REFERENCES crates (id),
    -- The version as published, build metadata included.
    num TEXT NOT NULL,
    -- The version without build metadata: a version is published once.
    num_no_build TEXT NOT NULL,
    checksum TEXT NOT NULL,
    yanked BOOLEAN NOT NULL DEFAULT FALSE,
    -- The index's dependency objects, sorted as crates.io sorts them (JSON text).
    dependencies TEXT NOT NULL,
    -- Every feature, before the split into `features` and `features2` (JSON text).
    features TEXT NOT NULL,
    links TEXT,
    rust_version TEXT,
    -- `YYYY-MM-DDTHH:MM:SSZ`, as written into the index.
    pubtime TEXT NOT NULL,
    UNIQUE (crate_id, num_no_build)
);
