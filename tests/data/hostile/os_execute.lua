-- Running a shell command.
os.execute("touch /tmp/qingling-sandbox-escaped")
