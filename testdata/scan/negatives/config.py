import os
DB_PASSWORD = os.environ["DB_PASSWORD"]
API_KEY = os.getenv("API_KEY", "")
password_reset_url = "/accounts/password/reset"
token_endpoint = "https://auth.example.com/oauth/token"
