-- The lines DuckDB's CSV reader could not split, one row per line (it reports a line once per
-- problem, e.g. once per missing column), with its own error types and messages kept whole.
select
    line,
    min(line_byte_position) as byte_position,
    string_agg(distinct lower(error_type), ', ' order by lower(error_type)) as error_types,
    string_agg(distinct error_message, '; ' order by error_message) as messages,
    any_value(csv_line) as csv_line
from ingest_rejects
group by line
order by line
