-- Type one survey file: each respondent once; answers stay text here (numbers or Likert labels)
-- and are mapped to the scale by the segmentation stage, which reports what it cannot map.
with

typed as (
    select
        source_row,
        raw,
        attributes,
        to_text(raw.respondent_id) as respondent_id,
        to_text(raw.customer_id) as customer_id
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            case when respondent_id is null then 'missing respondent_id' end,
            case when not $keep_exact_duplicates and source_row in (select source_row from exact_duplicates)
                then 'exact duplicate of an earlier row' end,
            case when row_number() over (partition by respondent_id order by source_row) > 1
                then 'duplicate respondent_id' end,
            case when respondent_id in (select key from existing_keys)
                then 'duplicate respondent_id (loaded from another file)' end
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, respondent_id, customer_id, attributes
from checked
