from mmexam.cli import main

main()
