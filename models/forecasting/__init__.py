"""Forecast models behind one small interface (:class:`models.forecasting.base.Forecaster`),
a rolling-origin backtest, conformal quantiles and the anticipated-service (launch) models.

Nothing here reads files or imports ``planner``.
"""
