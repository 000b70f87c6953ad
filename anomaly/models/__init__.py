"""Detection models: track-window features, a model of normal traffic (route anomalies) and the
migrant-risk model, with the custom scikit-learn estimators they are built from."""
