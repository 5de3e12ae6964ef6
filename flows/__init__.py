"""Floor 3: Prefect flows, composing tasks. Flows never see boto3 or the simulator, only a Fleet."""
