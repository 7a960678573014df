from lightning_app.cli import cli_main

if __name__ == "__main__":
    cli_main()
