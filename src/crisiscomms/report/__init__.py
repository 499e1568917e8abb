"""What people look at: Markdown artifacts and charts for the Prefect UI."""
