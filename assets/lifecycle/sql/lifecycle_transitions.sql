-- How the base moved: customers from each stage at one month end to each stage at the next. The
-- counts from a stage add up to that stage's size at the earlier snapshot; first-time buyers come
-- from '(not yet a customer)'.
with

history as (
    select * from main.lifecycle_history
),

moves as (
    select
        snapshot_date,
        coalesce(lag(stage) over (partition by customer_id order by snapshot_date), '(not yet a customer)')
            as from_stage,
        stage as to_stage
    from history
)

select
    snapshot_date,
    from_stage,
    to_stage,
    count(*) as customers,
    count(*) / sum(count(*)) over (partition by snapshot_date, from_stage) as rate
from moves
group by snapshot_date, from_stage, to_stage
order by snapshot_date, from_stage, to_stage
