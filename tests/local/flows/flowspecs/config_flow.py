"""A Config whose file differs per branch (the stack's `configs`: settings/prod.json in prod)."""
from metaflow import Config, FlowSpec, project, step


@project(name='shapes')
class ConfigFlow(FlowSpec):
    settings = Config('settings', default='settings/default.json')

    @step
    def start(self):
        self.label = self.settings.label
        self.next(self.end)

    @step
    def end(self):
        self.factor = self.settings.factor


if __name__ == '__main__':
    ConfigFlow()
