-- Share of each first-purchase-month cohort that bought in each later month.
with

purchase_days as (
    select customer_id, purchase_date
    from main.customer_purchase_days
    where is_purchase_day
),

cohorts as (
    select customer_id, date_trunc('month', min(purchase_date))::date as cohort_month
    from purchase_days
    group by customer_id
),

cohort_sizes as (
    select cohort_month, count(*) as cohort_customers
    from cohorts
    group by cohort_month
),

active_months as (
    select distinct customer_id, date_trunc('month', purchase_date)::date as activity_month
    from purchase_days
)

select
    cohorts.cohort_month,
    date_diff('month', cohorts.cohort_month, active_months.activity_month) as months_since_first_purchase,
    any_value(cohort_sizes.cohort_customers) as cohort_customers,
    count(*) as active_customers,
    count(*) / any_value(cohort_sizes.cohort_customers) as retention_rate
from active_months
join cohorts using (customer_id)
join cohort_sizes using (cohort_month)
group by cohorts.cohort_month, months_since_first_purchase
order by cohorts.cohort_month, months_since_first_purchase
