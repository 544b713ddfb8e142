-- The production CLV model and its holdout error, from the nightly model scorecard.
select
    model as production_model,
    total_error_pct::double as holdout_error_pct,
    mae::double as holdout_mae
from main.clv_model_selection
where chosen
