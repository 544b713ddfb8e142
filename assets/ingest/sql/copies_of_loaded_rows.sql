-- Incoming rows equal, value for value, to a row already loaded from another file: the same line
-- delivered twice. Whole typed rows are compared as one key (nulls equal), by a hash join, so the
-- cost is one pass over what is loaded; a source that keeps exact duplicates skips this.
with

incoming as (
    select source_row, row(*columns(* exclude (source_row))) as line
    from incoming_rows
),

loaded as (
    select source_file, row(*columns(* exclude (source_row, source_file))) as line
    from loaded_rows
)

select incoming.source_row, min(loaded.source_file) as earlier_file
from incoming
join loaded using (line)
group by incoming.source_row
