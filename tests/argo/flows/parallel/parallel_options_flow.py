"""@parallel with @retry, @environment, a Parameter and @kubernetes pod options (port, shared
memory, tmpfs, labels, annotations, secrets, node selector, tolerations), three gang members."""
from metaflow import FlowSpec, Parameter, environment, kubernetes, parallel, project, retry, step


@project(name="shapes")
class ParallelOptionsFlow(FlowSpec):
    epochs = Parameter("epochs", default=3, help="training epochs")

    @step
    def start(self):
        self.next(self.train_model, num_parallel=3)

    @retry(times=2, minutes_between_retries=1)
    @environment(vars={"NCCL_DEBUG": "INFO"})
    @kubernetes(cpu=2, memory=8192, port=29500, shared_memory=1024, use_tmpfs=True,
                labels={"team": "ml"}, annotations={"owner": "ml-team"},
                secrets=["hf-token"], node_selector={"gpu": "a100"},
                tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}])
    @parallel
    @step
    def train_model(self):
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParallelOptionsFlow()
