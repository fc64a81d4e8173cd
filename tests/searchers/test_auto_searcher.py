

def test_auto_with_several_objectives_builds_the_multi_objective_variant():
    s = create_searcher("auto", mixed_space(), metric="f1", mode="min", max_trials=40, max_concurrent=2,
                        objectives=[("f1", "min"), ("f2", "min")])
    assert s.auto_choice["searcher"] == "bayesian" and type(s).__name__ != "BayesianSearcher"
    assert hasattr(s, "set_objectives")
