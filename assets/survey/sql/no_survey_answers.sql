-- The shape of survey_answers when the survey has no factor columns (no survey configured).
select
    null::varchar as respondent_id,
    null::varchar as customer_id,
    null::varchar as factor,
    null::varchar as answer,
    null::double as rating,
    null::varchar as problem
where false
