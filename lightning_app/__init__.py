"""The command-line application: `python main.py {fit,validate,test,predict}`."""
