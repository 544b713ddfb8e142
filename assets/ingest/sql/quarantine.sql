-- Rows that could not be loaded, with the raw values and the reason; one table per source, each
-- created with these columns (the loader names it). A row the reader split has its position
-- (source_row) and raw_record (JSON); a line it could not split has source_line and raw_line.
select
    null::varchar as source_file,
    null::bigint as source_row,
    null::bigint as source_line,
    null::varchar as reason,
    null::varchar as raw_record,
    null::varchar as raw_line,
    null::timestamp as quarantined_at
where false
