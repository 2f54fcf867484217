import pandas as pd

frame = pd.DataFrame({"name": ["mainframe", "micro"], "answer": [2, 1]})
answer = frame.loc[frame["name"] == "mainframe", "answer"].iloc[0]
print(f"The Mainframe says: {answer}")
