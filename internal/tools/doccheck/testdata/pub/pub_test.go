package pub

func TestHelperWithoutDoc() {}
