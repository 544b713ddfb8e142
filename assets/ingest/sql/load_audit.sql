-- One row per input file currently loaded: what was read and where every row went. A file with the
-- same content as one loaded before it names that file in duplicate_of, its rows all quarantined.
create table if not exists load_audit (
    source varchar not null,
    source_file varchar not null,
    size_bytes bigint not null,
    modified_at timestamp not null,
    content_hash varchar not null,
    config_fingerprint varchar not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    loaded_at timestamp not null,
    duplicate_of varchar,
    primary key (source, source_file)
);

-- a warehouse from before duplicate deliveries were recognised
alter table main.load_audit add column if not exists duplicate_of varchar;
