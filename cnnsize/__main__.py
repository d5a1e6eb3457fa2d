from cnnsize.cli import run

run()
