"""Floor 4: windows.yaml -> Prefect deployments (schedules replace maintenance windows).

Reserved for the issue "Operating windows in Prefect"; nothing is deployed from here yet.
"""
