"""Score customers with thresholds that differ per branch (a Config read at deploy time)."""
from metaflow import Config, FlowSpec, project, resources, step


@project(name='example_project')
class ScoringFlow(FlowSpec):
    settings = Config('settings', default='settings/default.json')

    @resources(cpu=2, memory=8192)
    @step
    def start(self):
        self.threshold = self.settings.threshold
        self.next(self.end)

    @step
    def end(self):
        print('scored with threshold', self.threshold, 'on', self.settings.table)


if __name__ == '__main__':
    ScoringFlow()
