"""Decorator: @trigger_on_finish(flows=[...])."""
from metaflow import FlowSpec, project, step, trigger_on_finish


@trigger_on_finish(flows=["LinearFlow", "ForeachFlow"])
@project(name="shapes")
class TriggerOnFinishManyFlow(FlowSpec):
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
    TriggerOnFinishManyFlow()
