"""Runs when both ForeachFlow and ConfigFlow have finished in the same namespace: AND over two
upstreams (@trigger_on_finish(flows=[...])). Airflow only: flowstacks refuses several upstreams on
Step Functions (EventBridge rules have no AND)."""
from metaflow import FlowSpec, current, project, step, trigger_on_finish


@trigger_on_finish(flows=['ForeachFlow', 'ConfigFlow'])
@project(name='shapes')
class AfterBothFlow(FlowSpec):
    @step
    def start(self):
        self.upstreams = sorted(r.pathspec for r in current.trigger.runs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == '__main__':
    AfterBothFlow()
