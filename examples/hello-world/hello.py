print("hello there")
