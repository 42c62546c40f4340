"""Config: a value read at deploy time and frozen into the deployment."""
from metaflow import Config, FlowSpec, project, step


@project(name="shapes")
class ConfigFlow(FlowSpec):
    cfg = Config("cfg", default="config_flow.json")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ConfigFlow()
