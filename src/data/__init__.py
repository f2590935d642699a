"""Images in: class folders checked and screened, the MindSpore data pipeline, the offline demo set."""
