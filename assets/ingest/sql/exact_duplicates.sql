-- Rows that repeat an earlier row of the same file exactly. Hashing first keeps the full comparison
-- to the few rows whose hash repeats, so the check costs one cheap pass over the file.
with

repeated_hashes as (
    select hash(raw) as row_hash
    from raw_rows
    group by row_hash
    having count(*) > 1
),

candidates as (
    select
        source_row,
        row_number() over (partition by raw order by source_row) as copy_number
    from raw_rows
    where hash(raw) in (select row_hash from repeated_hashes)
)

select source_row
from candidates
where copy_number > 1
