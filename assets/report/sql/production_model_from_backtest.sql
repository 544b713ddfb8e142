-- The production CLV model and its holdout error where no model scorecard exists: BG/NBD, the one
-- model fitted, and the total error of its backtest (predicted against actual repeat purchases).
with

production as (
    select model from main.clv_model where purpose = 'production' and model <> 'gamma_gamma' and status = 'ok'
),

backtest as (
    select
        100 * (sum(predicted_purchases) - sum(actual_purchases)) / nullif(sum(actual_purchases), 0) as holdout_error_pct
    from main.clv_backtest
    where status = 'ok'
)

select
    production.model as production_model,
    backtest.holdout_error_pct::double as holdout_error_pct,
    null::double as holdout_mae
from production
cross join backtest
