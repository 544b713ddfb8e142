-- Every survey answer on its own row, mapped to the rating scale: numbers within the scale pass
-- through, Likert labels are matched whatever their letter case and spacing, and an answer that is
-- missing or cannot be mapped keeps its raw text and says why. The factor columns are named (a
-- placeholder filled with the quoted names of survey_responses' columns but its ids): Spark's UNPIVOT
-- takes no COLUMNS(* EXCLUDE ...).
with

responses as (
    select * from main.survey_responses
),

answers as (
    from responses
    unpivot include nulls (answer for factor in ({factors}))
),

labelled as (
    select
        respondent_id,
        customer_id,
        factor,
        answer,
        lower(regexp_replace(trim(answer), '\s+', ' ', 'g')) as label
    from answers
),

rated as (
    select
        labelled.*,
        coalesce(
            likert_scale.rating,
            case when try_cast(label as double) between $scale_min and $scale_max then try_cast(label as double) end
        ) as rating
    from labelled
    left join likert_scale using (label)
)

select
    respondent_id,
    customer_id,
    factor,
    answer,
    rating,
    case
        when answer is null or trim(answer) = '' then 'missing answer'
        when rating is null then 'unmappable answer'
    end as problem
from rated
