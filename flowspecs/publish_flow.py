"""Publish the model as soon as TrainFlow finishes in the same namespace."""
from metaflow import FlowSpec, current, project, step, trigger_on_finish


@trigger_on_finish(flow='TrainFlow')
@project(name='example_project')
class PublishFlow(FlowSpec):
    @step
    def start(self):
        trigger = current.trigger
        self.upstream = trigger.run.pathspec if trigger else None
        self.next(self.end)

    @step
    def end(self):
        print('published', self.upstream)


if __name__ == '__main__':
    PublishFlow()
