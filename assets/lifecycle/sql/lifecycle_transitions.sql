-- How the base moved: customers from each stage at one month end to each stage at the next. The
-- counts from a stage add up to that stage's size at the earlier snapshot; first-time buyers come
-- from '(not yet a customer)'. The moves are counted per part of the customers
-- (lifecycle_moves.sql, the step's temp table) and added up here.
with

moves as (
    select * from lifecycle_moves
),

counted as (
    select snapshot_date, from_stage, to_stage, sum(customers)::bigint as customers
    from moves
    group by snapshot_date, from_stage, to_stage
)

select
    snapshot_date,
    from_stage,
    to_stage,
    customers,
    customers / sum(customers) over (partition by snapshot_date, from_stage) as rate
from counted
order by snapshot_date, from_stage, to_stage
