from splp.cli.app import app
