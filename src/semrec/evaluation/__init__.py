"""Full-ranking evaluation: metrics, the evaluator, segments."""
