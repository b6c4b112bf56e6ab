"""The seed README's OAuth flow, against a local engine in token mode.

    pip install flask
    MY_PASSWORD=... nylas-engine accounts add --email me@example.com --password-env MY_PASSWORD
    nylas-engine import me@example.com mail.mbox   # some mail to show (optional)
    nylas-engine apps create --name "Flask example" \
        --redirect-uri http://127.0.0.1:8888/login_callback
    nylas-engine serve --auth token
    NYLAS_APP_ID=... NYLAS_APP_SECRET=... python examples/flask_oauth.py

Open http://127.0.0.1:8888/, log in with the account's email and password on the engine's
consent page, and the callback exchanges the code for an access token.
"""

from __future__ import annotations

import os

from flask import Flask, redirect, request, session

from nylas import APIClient

APP_ID = os.environ.get("NYLAS_APP_ID", "")
APP_SECRET = os.environ.get("NYLAS_APP_SECRET", "")
API_SERVER = os.environ.get("NYLAS_API_SERVER", "http://127.0.0.1:5555/")
CALLBACK = os.environ.get("NYLAS_CALLBACK", "http://127.0.0.1:8888/login_callback")

app = Flask(__name__)
app.secret_key = os.environ.get("FLASK_SECRET_KEY", os.urandom(16).hex())


@app.route("/")
def index():
    client = APIClient(APP_ID, APP_SECRET, api_server=API_SERVER)
    return redirect(client.authentication_url(CALLBACK))


@app.route("/login_callback")
def login_callback():
    if "error" in request.args:
        return "Login error: {}".format(request.args["error"])

    # Exchange the authorization code for an access token
    with APIClient(APP_ID, APP_SECRET, api_server=API_SERVER) as client:
        code = request.args.get("code")
        session["access_token"] = client.token_for_code(code)
    return redirect("/inbox")


@app.route("/inbox")
def inbox():
    token = session.get("access_token")
    if not token:
        return redirect("/")
    with APIClient(APP_ID, APP_SECRET, token, API_SERVER) as client:
        subjects = [t.subject or "(no subject)" for t in client.threads.where(limit=10)]
        return {"email": client.account.email_address, "threads": subjects}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8888)
