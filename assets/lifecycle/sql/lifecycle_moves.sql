-- Customers moving from their stage at one month end to their stage at the next, counted per
-- (month end, from stage, to stage) for the customers of one part (in_table_part: see
-- create_temp_table in common/warehouse.py); lifecycle_transitions.sql adds the parts up. Over every
-- customer at once the lag() window held the whole history in one operator and spilled (1 GB at
-- 10M purchase lines); one part at a time it holds a part.
with

history as (
    select customer_id, snapshot_date, stage
    from main.lifecycle_history
    where in_table_part(customer_id)
),

moves as (
    select
        snapshot_date,
        coalesce(lag(stage) over (partition by customer_id order by snapshot_date), '(not yet a customer)')
            as from_stage,
        stage as to_stage
    from history
)

select snapshot_date, from_stage, to_stage, count(*) as customers
from moves
group by snapshot_date, from_stage, to_stage
