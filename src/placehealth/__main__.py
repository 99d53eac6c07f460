from placehealth.outputs.cli import main

main()
