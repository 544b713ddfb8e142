-- Rows that could not be loaded, with the raw values and the reason; one table per source.
create table if not exists {quarantine_table} (
    source_file varchar not null,
    source_row bigint,
    source_line bigint,
    reason varchar not null,
    raw_record varchar,
    raw_line varchar,
    quarantined_at timestamp not null
)
