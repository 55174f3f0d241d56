"""What the collection says as a whole: volume over time, screens reported again and again, topics.

The Insights page, `vlsearch insights` and GET /v1/insights are thin layers over `report.insights`.
"""
