"""Decorator: @trigger(event=...)."""
from metaflow import FlowSpec, project, step, trigger


@trigger(event="data_ready")
@project(name="shapes")
class TriggerFlow(FlowSpec):
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
    TriggerFlow()
