"""Runs when ForeachFlow finishes in the same namespace (@trigger_on_finish)."""
from metaflow import FlowSpec, project, step, trigger_on_finish


@trigger_on_finish(flow='ForeachFlow')
@project(name='shapes')
class AfterForeachFlow(FlowSpec):
    @step
    def start(self):
        self.marker = 'downstream ran'
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == '__main__':
    AfterForeachFlow()
