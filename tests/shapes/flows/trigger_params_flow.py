"""Decorator: @trigger with parameter mapping."""
from metaflow import FlowSpec, Parameter, project, step, trigger


@trigger(event={"name": "data_ready", "parameters": {"alpha": "value"}})
@project(name="shapes")
class TriggerParamsFlow(FlowSpec):
    alpha = Parameter("alpha", default="a")

    @step
    def start(self):
        self.next(self.work)

    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TriggerParamsFlow()
