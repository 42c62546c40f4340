"""Parameter: names that differ from their attribute, types, help, a required one.

    The indented lines of this docstring stay indented in Metaflow's
    description annotation.
"""
from metaflow import FlowSpec, JSONType, Parameter, project, step


@project(name="shapes")
class ParameterFlow(FlowSpec):
    """A flow with parameters.

        Indented detail line.
    """

    eval_metric = Parameter("eval-metric", default="auc", help="metric to optimise")
    alpha = Parameter("alpha", default=0.5, type=float)
    epochs = Parameter("epochs", default=3, type=int)
    flags = Parameter("flags", default='{"a": 1}', type=JSONType)
    label = Parameter("label", required=True, default="x")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParameterFlow()
