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
            missing(respondent_id, 'respondent_id'),
            repeated_row(source_row, $keep_exact_duplicates, respondent_id, 'respondent_id')
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, respondent_id, customer_id, attributes
from checked
